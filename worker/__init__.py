"""The Celery worker: trains LSTM models for jobs. Never imports FastAPI; imports Keras only
inside the training child process."""
