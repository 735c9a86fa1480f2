"""The canonical model and the rules that hold whatever the agency: identity, codes, workdays."""
