; Definitions
(function_definition) @definition.function
(declaration declarator: (function_declarator)) @definition.function
(declaration declarator: (pointer_declarator declarator: (function_declarator))) @definition.function
(struct_specifier body: (field_declaration_list)) @definition.struct
(union_specifier body: (field_declaration_list)) @definition.union
(enum_specifier body: (enumerator_list)) @definition.enum
(type_definition type: [(primitive_type) (type_identifier) (sized_type_specifier)]) @definition.type
(preproc_function_def) @definition.macro

; References
(preproc_include path: (_) @reference.import)
(call_expression function: (identifier) @reference.call)
(call_expression function: (field_expression field: (field_identifier) @reference.call))
(field_expression field: (field_identifier) @reference.identifier)
(type_identifier) @reference.identifier
