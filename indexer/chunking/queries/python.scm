; Definitions: the captured node is the definition itself; the chunker finds decorators and docstrings.
(function_definition) @definition.function
(class_definition) @definition.class
(module (expression_statement (assignment left: (identifier)) @definition.variable))

; References
(import_statement name: (dotted_name) @reference.import)
(import_statement name: (aliased_import name: (dotted_name) @reference.import))
(import_from_statement module_name: (dotted_name) @reference.import)
(import_from_statement module_name: (relative_import) @reference.import)
(import_from_statement name: (dotted_name) @reference.import)
(import_from_statement name: (aliased_import name: (dotted_name) @reference.import))
(call function: (identifier) @reference.call)
(call function: (attribute attribute: (identifier) @reference.call))
(attribute attribute: (identifier) @reference.identifier)
(type (identifier) @reference.identifier)
(class_definition superclasses: (argument_list (identifier) @reference.identifier))
(decorator (identifier) @reference.identifier)
((identifier) @reference.identifier (#match? @reference.identifier "^_*[A-Z]"))
