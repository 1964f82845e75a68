; Definitions
(class_declaration) @definition.class
(interface_declaration) @definition.interface
(trait_declaration) @definition.trait
(enum_declaration) @definition.enum
(function_definition) @definition.function
(method_declaration) @definition.method

; References
(namespace_use_clause [(qualified_name) (name)] @reference.import)
(function_call_expression function: (name) @reference.call)
(function_call_expression function: (qualified_name (name) @reference.call .))
(member_call_expression name: (name) @reference.call)
(nullsafe_member_call_expression name: (name) @reference.call)
(scoped_call_expression name: (name) @reference.call)
(object_creation_expression (name) @reference.call)
(object_creation_expression (qualified_name (name) @reference.call .))
(member_access_expression name: (name) @reference.identifier)
(named_type (name) @reference.identifier)
(base_clause (name) @reference.identifier)
(class_interface_clause (name) @reference.identifier)
(scoped_call_expression scope: (name) @reference.identifier)
