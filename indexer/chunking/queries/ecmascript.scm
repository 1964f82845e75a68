; Shared by javascript.scm, typescript.scm and tsx.scm (each names it on an `; inherits:` line).
; Definitions
(function_declaration) @definition.function
(generator_function_declaration) @definition.function
(class_declaration) @definition.class
(method_definition) @definition.method
(variable_declarator value: [(arrow_function) (function_expression) (generator_function)]) @definition.function
(pair key: [(property_identifier) (string)] value: [(arrow_function) (function_expression) (generator_function)]) @definition.method
(assignment_expression
  left: (member_expression property: (property_identifier))
  right: [(arrow_function) (function_expression) (generator_function)]) @definition.method
; a function handed to a top-level call, named or named by the call: express's
; `defineGetter(req, 'ip', function ip() {...})` and `defineGetter(req, 'fresh', function () {...})`
(program (expression_statement (call_expression
  arguments: (arguments (function_expression name: (identifier)) @definition.function))))
(program (expression_statement (call_expression
  arguments: (arguments . (identifier) . (string) . (function_expression) @definition.function .))))

; References
(import_statement source: (string (string_fragment) @reference.import))
(import_specifier name: (identifier) @reference.import)
(import_clause (identifier) @reference.import)
(namespace_import (identifier) @reference.import)
(call_expression
  function: (identifier) @_require
  arguments: (arguments . (string (string_fragment) @reference.import))
  (#eq? @_require "require"))
(call_expression function: (identifier) @reference.call)
(call_expression function: (member_expression property: (property_identifier) @reference.call))
(new_expression constructor: (identifier) @reference.call)
(member_expression property: (property_identifier) @reference.identifier)
((identifier) @reference.identifier (#match? @reference.identifier "^_*[A-Z]"))
