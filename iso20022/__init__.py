"""ISO 20022 writing and schemas shared by every app: the streaming XML writer, the markup of
elements that several messages share (account ids, creditor references), the official XSDs
read from the packages that ship them, and the pain.002 status report writer. No models and
no imports of the hub's apps."""
