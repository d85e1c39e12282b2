"""sitewatch/config."""
