; Definitions
(class_declaration) @definition.auto
(object_declaration) @definition.object
(companion_object) @definition.object
(function_declaration) @definition.function
(type_alias) @definition.type

; References
(import (qualified_identifier) @reference.import)
(call_expression . (identifier) @reference.call)
(call_expression . (navigation_expression (identifier) @reference.call .))
(navigation_expression (identifier) @reference.identifier .)
(user_type (identifier) @reference.identifier)
((identifier) @reference.identifier (#match? @reference.identifier "^_*[A-Z]"))
