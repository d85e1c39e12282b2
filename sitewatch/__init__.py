"""sitewatch."""
