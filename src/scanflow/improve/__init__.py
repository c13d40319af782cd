"""Improve: sample selection, label store, retrain and denoising-wrapper strategies, gates.

Importing this package is cheap (no torch): import the module you need.

* :mod:`scanflow.improve.selection`  ``get_selector(name)`` and the ``Selector`` interface
* :mod:`scanflow.improve.labels`     the durable label queue and the oracle labeler
* :mod:`scanflow.improve.classifier` ``MnistCNN``, ``train_classifier``, ``predict_proba``
* :mod:`scanflow.improve.strategies` ``RetrainStrategy``, ``DenoiserStrategy``, ``CombinedStrategy``
* :mod:`scanflow.improve.gate`       ``EvaluationGate`` and registry promotion
* :mod:`scanflow.improve.loop`       ``run_round``: one select → label → improve → gate round
* :mod:`scanflow.improve.experiment` the MNIST-C experiment (``scanflow experiment mnist-c``)
"""
