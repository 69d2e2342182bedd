"""Export trained networks: the NetGraph form, NIR files, ONNX files, and their parity checks."""
