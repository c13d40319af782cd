"""Small user models, trained once per session (seconds)."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")


@pytest.fixture(scope="session")
def wine_data():
    from user_models import wine

    return wine()


@pytest.fixture(scope="session")
def wine_model(wine_data):
    from user_models import wine_pipeline

    X, y, _, _ = wine_data
    return wine_pipeline(X, y)


@pytest.fixture(scope="session")
def color_data():
    from user_models import color_shapes

    X, y = color_shapes(300, seed=0)
    Xt, yt = color_shapes(100, seed=2)
    return X, y, Xt, yt


@pytest.fixture(scope="session")
def color_net(color_data):
    from scanflow.models import register_architecture
    from user_models import ColorNet, train_color_net

    register_architecture(ColorNet)  # the user's code trusts its own network
    torch.set_num_threads(2)
    X, y, _, _ = color_data
    return train_color_net(X, y)


@pytest.fixture(scope="session")
def table_net(wine_data):
    from scanflow.models import InputSchema, as_model, register_architecture
    from user_models import TableNet

    register_architecture(TableNet)
    X, y, _, _ = wine_data
    net = TableNet()
    net.mean.copy_(torch.tensor(X.to_numpy().mean(0), dtype=torch.float32))
    net.scale.copy_(torch.tensor(X.to_numpy().std(0), dtype=torch.float32))
    adapter = as_model(net, schema=InputSchema.from_data(X), classes=[0, 1, 2])
    return adapter.fit_more(X, y, epochs=30, lr=1e-2, seed=0).native
