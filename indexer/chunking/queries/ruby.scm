; Definitions
(class) @definition.class
(module) @definition.module
(method) @definition.method
(singleton_method) @definition.method

; References
(call
  method: (identifier) @_load
  arguments: (argument_list . (string (string_content) @reference.import))
  (#match? @_load "^(require|require_relative|load|autoload)$"))
(call method: (identifier) @reference.call)
(constant) @reference.identifier
