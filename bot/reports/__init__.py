"""What the register's public report and the perception report share: numbers written each
language's way (more to come: the document model, renderers and charts)."""
