"""Improve: sample selection, label store, retrain and denoising-wrapper strategies, gates.

Importing this package is cheap (no torch): import the module you need.

* :mod:`scanflow.improve.selection`  ``get_selector(name)`` and the ``Selector`` interface
* :mod:`scanflow.improve.labels`     ``LabelStore``: the durable label queue (tables in
  ``label_schema``, queue in ``label_queue``, reports in ``label_reports``, samples in ``label_items``)
* :mod:`scanflow.improve.labelers`   the ``Labeler`` protocol: ``OracleLabeler``, ``StoreLabeler``
* :mod:`scanflow.improve.strategies` ``RetrainStrategy``, ``DenoiserStrategy``, ``CombinedStrategy``
* :mod:`scanflow.improve.zero_label` first responses without labels (``align``, ``denoise``, ``entropy``)
* :mod:`scanflow.improve.denoiser`   the denoising filter and ``DenoisedClassifier``
* :mod:`scanflow.improve.wrappers`   ``AlignedClassifier`` (a table model behind a feature aligner)
* :mod:`scanflow.improve.gate`       ``EvaluationGate`` and registry promotion
* :mod:`scanflow.improve.loop`       ``run_round``: one select → label → improve → gate round
* :mod:`scanflow.improve.classifier` a small image CNN for the examples, ``train_classifier``, ``predict_proba``
* :mod:`scanflow.improve.experiment` the MNIST-C experiment (``scanflow experiment mnist-c``);
  ``report`` writes its report, ``cache`` keeps its trained models
"""
