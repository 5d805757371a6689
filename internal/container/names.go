package container

import (
	"fmt"
	"math/rand/v2"
)

// The default names are Docker's style, adjective_surname; a shorter list
// than Docker's (names-generator.go), of our own choosing.
var (
	adjectives = []string{
		"admiring", "agitated", "amazing", "blissful", "bold", "brave", "busy", "calm",
		"charming", "clever", "cool", "dazzling", "eager", "ecstatic", "elegant", "epic",
		"festive", "fervent", "focused", "friendly", "gallant", "gifted", "happy", "hopeful",
		"jolly", "keen", "kind", "laughing", "lucid", "magical", "modest", "nifty",
		"nostalgic", "peaceful", "pensive", "quirky", "relaxed", "serene", "sharp", "stoic",
		"sweet", "tender", "upbeat", "vibrant", "wizardly", "youthful", "zealous", "zen",
	}
	surnames = []string{
		"agnesi", "babbage", "bell", "bohr", "booth", "curie", "darwin", "dijkstra",
		"einstein", "euler", "fermat", "feynman", "franklin", "galileo", "gauss", "goldberg",
		"hamilton", "hopper", "hypatia", "johnson", "kepler", "knuth", "lamarr", "lovelace",
		"mayer", "meitner", "morse", "newton", "noether", "pascal", "perlman", "ritchie",
		"shannon", "sinoussi", "tesla", "thompson", "torvalds", "turing", "wiles", "wozniak",
	}
)

// RandomName returns a name such as "focused_turing". From retry 1 on it
// appends a digit, as Docker does, so that a crowded root still finds a
// free name quickly.
func RandomName(retry int) string {
	name := adjectives[rand.IntN(len(adjectives))] + "_" + surnames[rand.IntN(len(surnames))]
	if retry > 0 {
		name = fmt.Sprintf("%s%d", name, rand.IntN(10))
	}
	return name
}
