"""Cases as the service holds them: filing (validate, route, render, sign, store) and views."""
