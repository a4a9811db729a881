# ---
# jupyter:
#   jupytext:
#     formats: py:percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Churn, trained by hand (MLOps level 0)
#
# This is how most models start: one data scientist, one notebook, one CSV. It loads
# the Telco customer data, looks at it, cleans it, splits it, trains a logistic
# regression, evaluates it and saves the model to a file with a hand-written name.
#
# It uses the same data, the same preprocessing and the same estimator with the same
# hyperparameters as the level-1 pipeline, so its ROC AUC is within 0.01 of the
# pipeline's on the same data. What differs is everything around the model. The
# **Pain** notes mark each manual step and link to the file that removes it at level
# 1 or 2.
#
# Run it as a script from the repository root:
# `.venv/bin/python levels/0-manual/train_churn.py`. VS Code runs its `# %%` cells
# as a notebook; `train_churn.ipynb` beside it holds the same cells with their
# outputs, written from this script by `make notebook`.

# %%
from pathlib import Path

import joblib
import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import (
    accuracy_score,
    classification_report,
    confusion_matrix,
    f1_score,
    roc_auc_score,
)
from sklearn.model_selection import train_test_split
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

pd.set_option("display.width", 120)
pd.set_option("display.max_columns", 8)

# Jupyter runs a notebook from its own folder and has no __file__.
try:
    HERE = Path(__file__).resolve().parent
except NameError:
    HERE = Path.cwd()

# %% [markdown]
# ## Load the data
#
# **Pain: no data version.** The model is trained on whatever this file holds today.
# Nothing records which version of it went in, so next month nobody can say which
# data produced this model or get that data back. Level 1 tracks the data and every
# intermediate file with DVC: [`dvc.yaml`](../../dvc.yaml) declares them and
# [`dvc.lock`](../../dvc.lock) pins their hashes in git.

# %%
df = pd.read_csv(HERE / "../../data/external/telco_churn.csv")
print(f"{df.shape[0]} rows, {df.shape[1]} columns")
print(df.head())

# %% [markdown]
# ## Look at it

# %%
print(df.dtypes.value_counts())
print()
print("churn share:", df["churn"].value_counts(normalize=True).round(3).to_dict())
print("missing values:", df.isna().sum()[lambda s: s > 0].to_dict())
print()
print(df[["tenure", "monthly_charges", "total_charges"]].describe().round(1))

# %% [markdown]
# 11 customers have no `total_charges`. All of them have `tenure` 0: they have not
# been billed yet, so their lifetime charges are 0.
#
# **Pain: no validation.** These checks were done once, by eye, on this file. The next
# file is not checked: a renamed column, a new contract type or prices in cents would
# train a worse model without a word. Level 1 writes the rules down once in
# [`src/churn/contract.py`](../../src/churn/contract.py) and checks every batch with
# Great Expectations ([`gx/`](../../gx/),
# [`src/churn/data/validate.py`](../../src/churn/data/validate.py)) before anything
# is trained.

# %%
print(
    "tenure where total_charges is missing:",
    df.loc[df["total_charges"].isna(), "tenure"].unique(),
)

# %% [markdown]
# ## Clean

# %%
df["total_charges"] = df["total_charges"].fillna(0.0)
y = (df["churn"] == "Yes").astype(int)
numbers = ["tenure", "monthly_charges", "total_charges"]
flags = [
    "female",
    "senior_citizen",
    "partner",
    "dependents",
    "phone_service",
    "paperless_billing",
]
categories = [
    "multiple_lines",
    "internet_service",
    "online_security",
    "online_backup",
    "device_protection",
    "tech_support",
    "streaming_tv",
    "streaming_movies",
    "contract",
    "payment_method",
]
X = df[numbers + flags + categories].astype({c: float for c in numbers + flags})

# %% [markdown]
# ## Split and train
#
# **Pain: parameters in code.** The test share, the seed and the regularisation are
# typed into the cells below. Trying another value means editing the notebook, and
# nothing records which values made which model. Level 1 keeps every tunable in
# [`params.yaml`](../../params.yaml); `dvc exp run -S train.logistic_regression.C=0.3`
# tries a value without touching code and `dvc exp show` compares the runs.

# %%
X_train, X_test, y_train, y_test = train_test_split(
    X, y, test_size=0.2, random_state=42, stratify=y
)

model = Pipeline(
    [
        (
            "features",
            ColumnTransformer(
                [
                    ("numbers", StandardScaler(), numbers),
                    ("flags", "passthrough", flags),
                    (
                        "categories",
                        OneHotEncoder(handle_unknown="ignore", sparse_output=False),
                        categories,
                    ),
                ]
            ),
        ),
        ("model", LogisticRegression(C=1.0, max_iter=1000, random_state=42)),
    ]
)
model.fit(X_train, y_train)
print(f"trained on {len(X_train)} customers, testing on {len(X_test)}")

# %% [markdown]
# ## Evaluate
#
# **Pain: results only in the notebook.** The numbers below live in this notebook's
# output until someone reruns it. There is no file to compare with last month's
# model and nobody reviews them. Level 1 writes them to
# [`metrics/metrics.json`](../../metrics/metrics.json) and [`plots/`](../../plots/)
# in git, so `dvc metrics diff main` compares any two versions; level 2 retrains on
# every pull request and posts the comparison as a review comment
# ([`.github/workflows/train.yml`](../../.github/workflows/train.yml)).

# %%
proba = model.predict_proba(X_test)[:, 1]
pred = (proba >= 0.5).astype(int)
print(f"test ROC AUC:  {roc_auc_score(y_test, proba):.4f}")
print(f"test F1:       {f1_score(y_test, pred):.4f}")
print(f"test accuracy: {accuracy_score(y_test, pred):.4f}")
print()
print(classification_report(y_test, pred, target_names=["stay", "churn"]))
print("confusion matrix (rows: actual stay/churn, columns: predicted stay/churn)")
print(confusion_matrix(y_test, pred))

# %% [markdown]
# ## Save and hand over
#
# **Pain: a model handed over by copying a file.** The model goes out as a pickle with
# a name that tries to say which one it is. Whoever receives it must trust the file
# (loading a pickle runs code), guess which data and code made it, and write their own
# code to serve it. Level 1 saves the model with skops, which refuses unknown types
# ([`src/churn/model_io.py`](../../src/churn/model_io.py)); level 2 releases a
# versioned model with its metrics on every merge
# ([`.github/workflows/release.yml`](../../.github/workflows/release.yml)) and serves
# it over HTTP ([`src/churn/delivery/serve.py`](../../src/churn/delivery/serve.py),
# `make serve`).
#
# **Pain: nobody watches it.** Once copied, the model is never checked again. When
# customers change it decays in silence, and retraining means someone remembering to
# rerun this notebook. Level 1 compares every new month of data with the training data
# ([`src/churn/pipeline/drift.py`](../../src/churn/pipeline/drift.py)) and level 2
# retrains on a schedule
# ([`.github/workflows/retrain.yml`](../../.github/workflows/retrain.yml)).

# %%
model_file = HERE / "churn_model_final_v2.joblib"
joblib.dump(model, model_file)
print(f"saved {model_file.name}, {model_file.stat().st_size // 1024} KB")

# %% [markdown]
# **Pain: a change is tested by rerunning the notebook.** If someone edits a cell, the
# only check is to run everything again and eyeball the numbers. Level 2 runs the test
# suite ([`tests/`](../../tests/)) on every push
# ([`.github/workflows/ci.yml`](../../.github/workflows/ci.yml)), and on every pull
# request retrains the model and fails the check if it got worse
# ([`.github/workflows/train.yml`](../../.github/workflows/train.yml)).
