"""Python client for the lstm-doctor API: sync (`Client`) and async (`AsyncClient`), typed results,
retries that honour Retry-After, uploads from a path, a DataFrame or arrays, `wait()` over the
event stream (polling when a stream cannot be held), and plots and models saved to files.

It talks HTTP only: no server code is imported. The `lstm-doctor submit|plot|wait` commands use it.
"""

from lstm_doctor_client.async_client import AsyncClient
from lstm_doctor_client.client import Client
from lstm_doctor_client.errors import JobTimeout, LstmDoctorError
from lstm_doctor_client.types import Dataset, Delivery, Diagnosis, Event, EventPage, History, Job, Prediction, Progress

__all__ = [
    "AsyncClient",
    "Client",
    "Dataset",
    "Delivery",
    "Diagnosis",
    "Event",
    "EventPage",
    "History",
    "Job",
    "JobTimeout",
    "LstmDoctorError",
    "Prediction",
    "Progress",
]
