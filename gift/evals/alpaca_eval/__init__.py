"""AlpacaEval 2 (`gift eval alpaca`): outputs generated, judged against the reference (`judges`), scored with
alpaca_eval's own length-controlled metrics (`evaluate`)."""
