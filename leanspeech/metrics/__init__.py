"""Metrics, each tested against an independently known value: EER/ROC/DET, PCC/SRCC/MSE, PESQ,
ESTOI, SI-SNR, DNSMOS (its models load on the first call), and Mann-Whitney significance tests."""

from leanspeech.metrics.checks import MetricError
from leanspeech.metrics.correlation import Agreement, agreement, agreement_per_set, mean_over_sets, mse, pcc, srcc
from leanspeech.metrics.dnsmos import DNSMOSScores, dnsmos
from leanspeech.metrics.eer import EER, ErrorRates, det_points, equal_error_rate, error_rates
from leanspeech.metrics.intrusive import estoi, intrusive_scores, pesq, si_snr, si_snr_db
from leanspeech.metrics.significance import PairTest, adjust_p_values, mann_whitney, pairwise_mann_whitney

__all__ = [
    "MetricError",
    "Agreement", "agreement", "agreement_per_set", "mean_over_sets", "mse", "pcc", "srcc",
    "DNSMOSScores", "dnsmos",
    "EER", "ErrorRates", "det_points", "equal_error_rate", "error_rates",
    "estoi", "intrusive_scores", "pesq", "si_snr", "si_snr_db",
    "PairTest", "adjust_p_values", "mann_whitney", "pairwise_mann_whitney",
]
