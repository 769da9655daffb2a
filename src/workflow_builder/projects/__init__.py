"""Projects and the task queues their workflows run on."""
