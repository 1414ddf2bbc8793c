//! Sending a stored request again to a URL of the user's choosing.
