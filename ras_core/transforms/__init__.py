"""Pure transforms from parsed raw files to the processed shapes (contracts.md, "Processed data")."""
