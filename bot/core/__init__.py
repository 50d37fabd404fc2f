"""The platform-free core: conversation handling, language, concern categories."""
