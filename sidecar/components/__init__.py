"""Component files, component contracts and the metadata helpers drivers share."""
