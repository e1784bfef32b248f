FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml ./
COPY chatapp chatapp
COPY latency latency
# Install a CPU build of torch first (from your mirror or wheel cache) to keep the image small.
RUN pip install --no-cache-dir .
COPY . .
EXPOSE 8000
CMD ["python", "-m", "chatapp.serving", "-b", "0.0.0.0", "-p", "8000", "chatapp.asgi:application"]
