"""Wire formats of the data plane: native JSON and the Open Inference Protocol (v2) REST."""
