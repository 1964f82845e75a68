; inherits: ecmascript
; Definitions
(field_definition value: [(arrow_function) (function_expression)]) @definition.method

; References
(jsx_opening_element name: (identifier) @reference.identifier)
(jsx_self_closing_element name: (identifier) @reference.identifier)
