"""Cross-check of our multi-label evaluation on real data (scripts/bench/goemotions.sh runs):
scikit-learn's scores of our predictions-test.parquet at the thresholds our evaluate recorded,
and the per-label thresholds that the peer's independent Python rule (train_hf_multilabel.tune)
picks on our predictions-dev.parquet, against ours.

Usage: python scripts/bench/goemotions_crosscheck.py SEED   (artifacts in /tmp/goemotions-artifacts-SEED)
"""
import json, glob, os, sys
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'peers'))
import numpy as np, pyarrow.parquet as pq
import train_hf_multilabel as m
base=f'/tmp/goemotions-artifacts-{sys.argv[1]}/goemotions/evaluate'
for d in glob.glob(base+'/*/'):
    man=json.load(open(d+'manifest.json'))
    if not man['params'].get('tune_thresholds'): continue
    labels=json.load(open(d+'labels.json'))['labels']
    met=json.load(open(d+'metrics.json'))
    def load(split):
        t=pq.read_table(d+f'predictions-{split}.parquet').to_pydict()
        y=np.array([[int(l in g.split('|')) for l in labels] for g in t['gold']])
        p=np.array(t['probs'],dtype=np.float32)
        return y,p
    yd,pd=load('dev'); yt,pt=load('test')
    t=m.tune(yd,pd)
    ours=np.array(met['dev']['decision']['thresholds'])
    print('thresholds equal:', np.array_equal(t, ours), np.max(np.abs(t-ours)))
    s=m.scores(yt,pt,ours)
    print('sklearn test micro/macro/samples', s['micro_f1'], s['macro_f1'], s['samples_f1'], s['mean_roc_auc'])
    print('ours    test micro/macro/samples', met['test']['micro']['f1'], met['test']['macro']['f1'], met['test']['samples']['f1'], met['test']['mean_roc_auc'])
