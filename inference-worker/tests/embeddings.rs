//! Embedding models on tiny random BERT and XLM-RoBERTa checkpoints: the
//! loaders, pooling from 1_Pooling/config.json, normalisation from
//! modules.json, and padding that does not change a sentence's vector.

use candle_core::Device;
use inference_worker::EmbeddingModel;
use inference_worker::embeddings::Pooling;
use inference_worker::testing::write_embedding_checkpoint;

fn load(model_type: &str, pooling: &str) -> (tempfile::TempDir, EmbeddingModel) {
    let dir = tempfile::tempdir().unwrap();
    write_embedding_checkpoint(dir.path(), model_type, pooling).unwrap();
    let model = EmbeddingModel::load(dir.path(), &Device::Cpu).unwrap();
    (dir, model)
}

fn inputs() -> Vec<String> {
    [
        "hello",
        "hello world, 你好世界 and a longer sentence",
        "中文",
    ]
    .map(String::from)
    .to_vec()
}

fn check(model_type: &str, pooling: &str, expected: Pooling) -> Vec<Vec<f32>> {
    let (_dir, model) = load(model_type, pooling);
    assert_eq!(model.pooling, expected);
    assert!(model.normalize);
    let batch = model.embed(&inputs(), false, true).unwrap();
    assert_eq!(batch.vectors.len(), 3);
    for (i, input) in inputs().iter().enumerate() {
        let v = &batch.vectors[i];
        assert_eq!(v.len(), 32);
        let norm: f32 = v.iter().map(|x| x * x).sum::<f32>().sqrt();
        assert!(
            (norm - 1.0).abs() < 1e-4,
            "{model_type} {pooling}: norm {norm}"
        );
        // Alone (no padding) the sentence gets the same vector.
        let single = model
            .embed(std::slice::from_ref(input), false, true)
            .unwrap();
        for (a, b) in single.vectors[0].iter().zip(v) {
            assert!((a - b).abs() < 1e-4, "{model_type} {pooling}: input {i}");
        }
    }
    batch.vectors
}

#[test]
fn bert_pooling_follows_the_sentence_transformers_config() {
    let mean = check("bert", "mean", Pooling::Mean);
    let cls = check("bert", "cls", Pooling::Cls);
    let last = check("bert", "lasttoken", Pooling::LastToken);
    assert_ne!(mean, cls);
    assert_ne!(mean, last);
}

#[test]
fn xlm_roberta_embeds_with_its_padding_and_positions() {
    let mean = check("xlm-roberta", "mean", Pooling::Mean);
    let cls = check("xlm-roberta", "cls", Pooling::Cls);
    assert_ne!(mean, cls);
}

#[test]
fn inputs_longer_than_the_model_are_cut_or_refused() {
    let (_dir, model) = load("xlm-roberta", "mean");
    assert_eq!(
        model.max_tokens, 64,
        "max_position_embeddings minus XLM-R's offset"
    );
    let long = vec!["hello ".repeat(100)];
    assert_eq!(model.embed(&long, false, true).unwrap().tokens, 64);
    assert!(model.embed(&long, false, false).is_err());
}
