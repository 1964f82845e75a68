; inherits: typescript
; References
(jsx_opening_element name: (identifier) @reference.identifier)
(jsx_self_closing_element name: (identifier) @reference.identifier)
