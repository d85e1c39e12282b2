"""The fleet hub: every site's events, evidence and cases in one PostgreSQL, behind MQTT."""
