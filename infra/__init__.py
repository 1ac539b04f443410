"""Deployment material: JVM dependency pins (pom.xml), run-profile configs (conf/), jar fetching."""
