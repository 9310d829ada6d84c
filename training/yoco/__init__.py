# Tome's Python side of YOCO: the reference/training model (model.py, ops.py, config.py), the
# tensor-name table reader (tensor_table.py) and a small safetensors reader/writer.
