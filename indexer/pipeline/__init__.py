"""The write side: run.py is an index run (sources -> chunking -> embedding -> store + catalog), incremental by
blob; generations.py keeps every run in a new generation directory published atomically, with the one-writer
lock, so readers never see a half-built index and a killed run loses nothing."""
