"""Quality classifiers (fastText and others): training, evaluation, versioning, application in Spark."""
