; Definitions
(function_definition) @definition.function

; References
(command
  name: (command_name (word) @_source)
  argument: (_) @reference.import
  (#match? @_source "^(source|\\.)$"))
(command name: (command_name (word) @reference.call))
