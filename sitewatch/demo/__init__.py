"""sitewatch/demo."""
