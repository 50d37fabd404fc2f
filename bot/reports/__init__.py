"""The report kit the register's public report and the weekly perception report share: the
document model and label tables (`document`), numbers written each language's way
(`formatting`), charts as accessible SVG and PNG (`charts`), and PDF files (`pdf`)."""
