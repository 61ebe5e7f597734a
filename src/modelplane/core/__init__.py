"""Domain objects and rules without I/O: names, URIs, records returned by the services."""
