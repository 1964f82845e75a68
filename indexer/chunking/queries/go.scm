; Definitions
(function_declaration) @definition.function
(method_declaration) @definition.method
(type_spec) @definition.auto
(type_alias) @definition.type
(method_elem) @definition.method

; References
(import_spec path: (interpreted_string_literal) @reference.import)
(call_expression function: (identifier) @reference.call)
(call_expression function: (selector_expression field: (field_identifier) @reference.call))
(selector_expression field: (field_identifier) @reference.identifier)
(type_identifier) @reference.identifier
(qualified_type name: (type_identifier) @reference.identifier)
((identifier) @reference.identifier (#match? @reference.identifier "^[A-Z]"))
