; Definitions
(function_item) @definition.function
(function_signature_item) @definition.function
(struct_item) @definition.struct
(union_item) @definition.union
(enum_item) @definition.enum
(trait_item) @definition.trait
(impl_item) @definition.impl
(mod_item body: (declaration_list)) @definition.module
(type_item) @definition.type
(macro_definition) @definition.macro
(const_item) @definition.constant
(static_item) @definition.constant

; References
(use_declaration argument: (_) @reference.import)
(extern_crate_declaration name: (identifier) @reference.import)
(call_expression function: (identifier) @reference.call)
(call_expression function: (field_expression field: (field_identifier) @reference.call))
(call_expression function: (scoped_identifier name: (identifier) @reference.call))
(call_expression function: (generic_function function: (identifier) @reference.call))
(macro_invocation macro: (identifier) @reference.call)
(field_expression field: (field_identifier) @reference.identifier)
(type_identifier) @reference.identifier
(scoped_identifier path: (identifier) @reference.identifier)
