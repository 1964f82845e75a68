; Definitions
(class_definition) @definition.class
(object_definition) @definition.object
(trait_definition) @definition.trait
(enum_definition) @definition.enum
(function_definition) @definition.function
(function_declaration) @definition.function
(type_definition) @definition.type

; References
(import_declaration) @reference.import
(call_expression function: (identifier) @reference.call)
(call_expression function: (field_expression field: (identifier) @reference.call))
(instance_expression (type_identifier) @reference.call)
(field_expression field: (identifier) @reference.identifier)
(type_identifier) @reference.identifier
