"""The repository tour: tour.py assembles it from overview.py (what it is, directories), commands.py (build, test,
run), entry_points.py, repomap.py (PageRank over references), summaries.py (model-written lines, cached), people.py
(who to ask) and repofiles.py (reading indexed files)."""
