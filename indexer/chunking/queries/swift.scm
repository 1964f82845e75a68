; Definitions
(class_declaration) @definition.auto
(protocol_declaration) @definition.protocol
(function_declaration) @definition.function
(init_declaration) @definition.method
(deinit_declaration) @definition.method
(protocol_function_declaration) @definition.method
(typealias_declaration) @definition.type

; References
(import_declaration (identifier) @reference.import)
(call_expression . (simple_identifier) @reference.call)
(call_expression . (navigation_expression suffix: (navigation_suffix suffix: (simple_identifier) @reference.call)))
(navigation_suffix suffix: (simple_identifier) @reference.identifier)
(type_identifier) @reference.identifier
