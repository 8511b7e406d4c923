"""The eval suite behind ``qa eval``: datasets, fact matching, metrics, reports and the gate."""
