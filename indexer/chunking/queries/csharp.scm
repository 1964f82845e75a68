; Definitions
(class_declaration) @definition.class
(struct_declaration) @definition.struct
(interface_declaration) @definition.interface
(enum_declaration) @definition.enum
(record_declaration) @definition.record
(method_declaration) @definition.method
(constructor_declaration) @definition.method
(local_function_statement) @definition.function
(delegate_declaration) @definition.type

; References
(using_directive [(qualified_name) (identifier)] @reference.import)
(invocation_expression function: (identifier) @reference.call)
(invocation_expression function: (member_access_expression name: (identifier) @reference.call))
(invocation_expression function: (generic_name (identifier) @reference.call))
(object_creation_expression type: (identifier) @reference.call)
(object_creation_expression type: (generic_name (identifier) @reference.call))
(member_access_expression name: (identifier) @reference.identifier)
((identifier) @reference.identifier (#match? @reference.identifier "^_*[A-Z]"))
