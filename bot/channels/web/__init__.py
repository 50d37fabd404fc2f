"""The application's HTTP server: the local web chat and the endpoint Rasa calls back."""
