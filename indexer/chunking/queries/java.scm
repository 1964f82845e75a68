; Definitions
(class_declaration) @definition.class
(interface_declaration) @definition.interface
(annotation_type_declaration) @definition.interface
(enum_declaration) @definition.enum
(record_declaration) @definition.record
(method_declaration) @definition.method
(constructor_declaration) @definition.method

; References
(import_declaration [(scoped_identifier) (identifier)] @reference.import)
(method_invocation name: (identifier) @reference.call)
(object_creation_expression type: (type_identifier) @reference.call)
(object_creation_expression type: (generic_type (type_identifier) @reference.call))
(field_access field: (identifier) @reference.identifier)
(type_identifier) @reference.identifier
((identifier) @reference.identifier (#match? @reference.identifier "^_*[A-Z]"))
