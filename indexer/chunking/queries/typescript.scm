; inherits: ecmascript
; Definitions
(function_signature) @definition.function
(abstract_class_declaration) @definition.class
(interface_declaration) @definition.interface
(type_alias_declaration) @definition.type
(enum_declaration) @definition.enum
(method_signature) @definition.method
(abstract_method_signature) @definition.method
(public_field_definition value: [(arrow_function) (function_expression)]) @definition.method

; References
(type_identifier) @reference.identifier
