import requests

# Запуск
response = requests.post("http://localhost:8000/api/hyperopt/start", json={
    "mode": "full",
    "epochs_per_trial": 4,
    "max_trials_per_group": 15
})

# Статус
status = requests.get("http://localhost:8000/api/hyperopt/status").json()

# Остановка
requests.post("http://localhost:8000/api/hyperopt/stop")

# Возобновление
requests.post("http://localhost:8000/api/hyperopt/resume")

# Результаты
results = requests.get("http://localhost:8000/api/hyperopt/results").json()
print(results["best_params"])
